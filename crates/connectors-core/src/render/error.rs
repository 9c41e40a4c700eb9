//! Errors of rendering.

use crate::template::TemplateError;

/// Why a configuration or probe could not be rendered. Messages never carry
/// tokens or Secret values.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The class has no configuration of that name.
    #[error("class {class:?} has no configuration {name:?}; available: {available}")]
    UnknownConfiguration {
        /// Class name.
        class: String,
        /// Requested configuration.
        name: String,
        /// Comma-separated names the class offers.
        available: String,
    },
    /// None of the requested configurations exists in any involved class.
    #[error("none of the configurations {names} exists in class(es) {classes}")]
    NoConfigurationFound {
        /// Requested names.
        names: String,
        /// Involved classes.
        classes: String,
    },
    /// A required mount parameter is missing.
    #[error("configuration {configuration:?}: parameter {param:?} is required (it has no default); pass it in the configuration params")]
    MissingParam {
        /// Configuration name.
        configuration: String,
        /// Parameter name.
        param: String,
    },
    /// A parameter value is outside its enum.
    #[error("configuration {configuration:?}: parameter {param:?} must be one of: {allowed}")]
    ParamNotAllowed {
        /// Configuration name.
        configuration: String,
        /// Parameter name.
        param: String,
        /// Allowed values.
        allowed: String,
    },
    /// The parameters given for a configuration are not an object.
    #[error("configuration params for {configuration:?} must be a JSON object of name → value")]
    BadParams {
        /// Configuration name.
        configuration: String,
    },
    /// A template failed to parse or render.
    #[error("failed to generate configuration: {0}")]
    Template(#[from] TemplateError),
    /// No connectors were given.
    #[error("no connector to render for")]
    NoConnector,
    /// A probe target could not be formed.
    #[error("probe of {connector}: {message}")]
    Probe {
        /// `namespace/name`.
        connector: String,
        /// What went wrong.
        message: String,
    },
}
