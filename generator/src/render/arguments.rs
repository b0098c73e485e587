//! Reading the named arguments of a Tera function call, with errors that name the function.

use std::collections::HashMap;

use tera::{Result as TeraResult, Value, from_value};

pub fn required<T: serde::de::DeserializeOwned>(
    args: &HashMap<String, Value>,
    function: &str,
    name: &str,
) -> TeraResult<T> {
    let value = args.get(name).ok_or_else(|| format!("{function}() needs the argument `{name}`"))?;
    from_value(value.clone()).map_err(|e| format!("{function}(): `{name}` {e}").into())
}

pub fn optional<T: serde::de::DeserializeOwned>(
    args: &HashMap<String, Value>,
    function: &str,
    name: &str,
) -> TeraResult<Option<T>> {
    args.get(name).map(|_| required(args, function, name)).transpose()
}
