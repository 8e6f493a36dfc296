//! The commands that are not resources.

pub mod image;
