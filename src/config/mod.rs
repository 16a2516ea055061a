//! The configuration language: lexer, `.if` conditions, keyword table, parser and typed model.

pub mod model;
