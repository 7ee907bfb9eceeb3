//! stdio (in progress).

/// fd `n` (0–2) became or stopped being a rump fd.
pub fn std_stream_changed(_n: i32) {}
