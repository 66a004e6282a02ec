//! Members: what the member use cases share (how long a member code lives).

/// How long a member code stays valid.
pub const MEMBER_CODE_TTL_SECS: i64 = 60;
