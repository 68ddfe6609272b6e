//! Nothing here: the tier is `tests/feed.rs`.
