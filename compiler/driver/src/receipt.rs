//! Decision receipts: what an auditor needs to reproduce a result months later.
//!
//! The rules hash covers the compiled program (every declaration, node and source span,
//! but not the paths the files were read from, so moving a folder keeps the hash). The
//! inputs hash covers the validated inputs in their canonical JSON form (declared order,
//! decimals as strings), so `12.5` and `"12.50"` written in a case file hash the same.

use covenant_ir::{Program, Value, value};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub rules_hash: String,
    pub inputs_hash: String,
    pub engine: String,
    /// The date given by the caller to choose dated versions (`--as-of`); it is covered by
    /// the inputs hash, since it changes results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

pub fn receipt(program: &Program, inputs: &[Value], as_of: Option<covenant_ir::Date>) -> Receipt {
    let mut inputs_hash = inputs_hash(program, inputs);
    if let Some(date) = as_of {
        inputs_hash = hex(&Sha256::digest(format!("{inputs_hash}\nas_of={date}").as_bytes()));
    }
    Receipt {
        rules_hash: rules_hash(program),
        inputs_hash,
        engine: crate::ENGINE.to_string(),
        as_of: as_of.map(|d| d.to_string()),
    }
}

pub fn rules_hash(program: &Program) -> String {
    let without_paths = Program { files: Vec::new(), ..program.clone() };
    // Serialising plain data to a Vec cannot fail; an empty hash input would still be reported honestly.
    let bytes = serde_json::to_vec(&without_paths).unwrap_or_default();
    hex(&Sha256::digest(&bytes))
}

/// The canonical JSON form of the inputs (an object in declaration order).
pub fn canonical_inputs(program: &Program, inputs: &[Value]) -> serde_json::Value {
    let map = program
        .inputs
        .iter()
        .zip(inputs)
        .map(|(def, v)| (def.name.clone(), value::to_json(program, v, &def.ty)))
        .collect();
    serde_json::Value::Object(map)
}

pub fn inputs_hash(program: &Program, inputs: &[Value]) -> String {
    let bytes = serde_json::to_vec(&canonical_inputs(program, inputs)).unwrap_or_default();
    hex(&Sha256::digest(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
