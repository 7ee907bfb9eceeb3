//! processes (in progress).
