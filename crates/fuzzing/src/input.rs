//! Splitting one fuzz input into several values, deterministically (the same bytes
//! always give the same values, so a replayed corpus file reproduces its run).

/// A cursor over the fuzz input.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte (0 once the input is exhausted).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next little-endian `u64` from up to 8 bytes.
    pub fn u64(&mut self) -> u64 {
        let mut v = 0u64;
        for i in 0..8 {
            v |= u64::from(self.byte()) << (8 * i);
        }
        v
    }

    /// The next `u16` from up to 2 bytes.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.byte()) | u16::from(self.byte()) << 8
    }

    /// The bytes up to the next `sep` (consumed, not returned), or all that remain.
    pub fn until(&mut self, sep: u8) -> &'a [u8] {
        match self.data.iter().position(|b| *b == sep) {
            Some(i) => {
                let (head, rest) = self.data.split_at(i);
                self.data = &rest[1..];
                head
            }
            None => std::mem::take(&mut self.data),
        }
    }

    /// Like [`Input::until`], as (lossy) UTF-8 text.
    pub fn text_until(&mut self, sep: u8) -> String {
        String::from_utf8_lossy(self.until(sep)).into_owned()
    }

    /// Everything that remains.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
