//! The `coffer` binary's integration tests, one test binary with a module per suite:
//! each drives real `coffer` processes (the server, the CLI, `bench`/`soak`/`attack`)
//! over real sockets, kills them and checks what survived. One binary links the stack
//! once instead of once per suite.

mod cli_common;
mod proc_common;

mod access_log;
mod audit_crash;
mod bitrot;
mod cache_node;
mod cli_access;
mod cli_audit;
mod cli_docs;
mod cli_federation;
mod cli_iam;
mod cli_keys;
mod crash;
mod crash_matrix;
mod disk_full;
mod file_modes;
mod graceful_stop;
mod hostile;
mod scale_out_crash;
mod soak;
