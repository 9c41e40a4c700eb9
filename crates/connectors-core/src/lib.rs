//! Pure logic shared by every Connectors role: templates, Rego policies,
//! configuration rendering, validation and status computation. Nothing in this
//! crate performs I/O.

pub mod address;
pub mod cacert;
pub mod classes;
pub mod inventory;
pub mod manifest;
pub mod rego;
pub mod render;
pub mod status;
pub mod template;
pub mod validate;
