//! Rendering for people and programs: diagnostics through ariadne (byte-indexed spans), and
//! explanations of evaluated decisions as terminal text and as versioned JSON.

pub mod diagnostics;
pub mod explain;
