//! What the stack costs each month, for `plan`.
//!
//! - [`rates`]: the unit prices a bill needs and where each came from.
//! - [`price_list`]: reading AWS's Price List Query API (`GetProducts`)
//!   into a [`rates::RateCard`]; [`cache`] keeps what it read for a day.
//! - [`card`]: the embedded rate card, for when the API cannot be reached.
//! - [`usage`]: the usage assumptions (requests per second, GB of logs, …),
//!   each printed and settable with `--traffic`.
//! - [`bill`]: the arithmetic, line by line, fixed costs apart from usage;
//!   [`render`] prints it.

pub mod bill;
pub mod cache;
pub mod card;
pub mod price_list;
pub mod rates;
pub mod render;
pub mod usage;
