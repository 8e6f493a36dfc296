//! What the stack costs each month, for `plan`.
//!
//! - [`rates`]: the unit prices a bill needs and where each came from.

pub mod rates;
