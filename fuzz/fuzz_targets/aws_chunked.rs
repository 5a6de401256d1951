#![no_main]
// The property check is shared with the stable corpus replay test: crates/fuzzing.
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_fuzzing::aws_chunked::check(data));
