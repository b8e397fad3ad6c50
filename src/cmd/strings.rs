//! Every string a value would hold as JSON — what `serde_json::to_value` then a walk of its
//! strings gives (object keys left out) — without building the JSON: a serializer that only
//! hands each string on. At 30,000 ExternalSecrets the JSON trees of their specs cost ~30 ms of
//! CPU that the analysis next to it wanted (issue 16).

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Calls `each` with every string `value` serializes (values, not keys), in order.
pub fn each_string<T: Serialize + ?Sized>(value: &T, each: &mut dyn FnMut(&str)) {
    // The only error is a custom one a Serialize impl raises: its strings so far were handed on,
    // as `to_value` would have failed whole (and published nothing) — more is harmless here.
    let _ = value.serialize(Strings { each });
}

struct Strings<'a, 'b> {
    each: &'a mut (dyn FnMut(&str) + 'b),
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not serializable")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'b> Strings<'_, 'b> {
    fn again(&mut self) -> Strings<'_, 'b> {
        Strings { each: self.each }
    }
}

/// `serialize_<scalar>` methods that only answer `$answer`: no scalar is a string value.
macro_rules! scalars {
    ($answer:expr; $($method:ident: $t:ty),* $(,)?) => {$(
        fn $method(self, _: $t) -> Result<(), Stop> {
            $answer
        }
    )*};
}

impl<'b> ser::Serializer for Strings<'_, 'b> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        (self.each)(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Stop> {
        (self.each)(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Stop> {
        (self.each)(v);
        Ok(())
    }
    scalars!(
        Ok(());
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_i128: i128,
        serialize_u128: u128,
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_bytes: &[u8],
    );
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Strings<'_, '_> {
            type Ok = ();
            type Error = Stop;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
                v.serialize(self.again())
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Strings<'_, '_> {
    type Ok = ();
    type Error = Stop;
    /// Keys become object keys in JSON: not handed on. A key that cannot be one (a number, a
    /// struct) would make `to_value` fail; either way it is no string value.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        key.serialize(KeyCheck)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        v.serialize(self.again())
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Strings<'_, '_> {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _: &'static str,
                v: &T,
            ) -> Result<(), Stop> {
                v.serialize(self.again())
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

/// A map key, checked only: strings and the scalars `serde_json` turns into key strings pass.
struct KeyCheck;

impl ser::Serializer for KeyCheck {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Impossible<(), Stop>;
    type SerializeTuple = Impossible<(), Stop>;
    type SerializeTupleStruct = Impossible<(), Stop>;
    type SerializeTupleVariant = Impossible<(), Stop>;
    type SerializeMap = Impossible<(), Stop>;
    type SerializeStruct = Impossible<(), Stop>;
    type SerializeStructVariant = Impossible<(), Stop>;

    fn serialize_str(self, _: &str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    scalars!(
        Ok(());
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
    );
    scalars!(
        Err(Stop);
        serialize_f32: f32,
        serialize_f64: f64,
        serialize_bytes: &[u8],
    );
    fn serialize_none(self) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Stop> {
        Err(Stop)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::eso::{ClusterExternalSecret, ExternalSecret, SecretStore};

    fn via_json<T: Serialize>(v: &T) -> Vec<String> {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Ok(json) = serde_json::to_value(v) {
            walk(&json, &mut out);
        }
        out.sort();
        out
    }

    fn direct<T: Serialize>(v: &T) -> Vec<String> {
        let mut out = Vec::new();
        each_string(v, &mut |s| out.push(s.to_string()));
        out.sort();
        out
    }

    /// The same strings as the JSON walk, over every ExternalSecret, store and
    /// ClusterExternalSecret spec of the sandbox's scenarios.
    #[test]
    fn issue_16_the_strings_of_every_scenario_spec_are_the_json_walks() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/eso-sandbox/scenarios");
        let mut compared = 0;
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let Ok(scenario) = serde_saphyr::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let objects = scenario["objects"].as_str().unwrap_or_default();
            for doc in objects.split("\n---") {
                let Ok(obj) = serde_saphyr::from_str::<serde_json::Value>(doc) else {
                    continue;
                };
                let (want, got) = match obj["kind"].as_str() {
                    Some("ExternalSecret") => {
                        let Ok(es) = serde_json::from_value::<ExternalSecret>(obj.clone()) else {
                            continue;
                        };
                        (via_json(&es.spec), direct(&es.spec))
                    }
                    Some("SecretStore" | "ClusterSecretStore") => {
                        let Ok(s) = serde_json::from_value::<SecretStore>(obj.clone()) else {
                            continue;
                        };
                        (via_json(&s.spec), direct(&s.spec))
                    }
                    Some("ClusterExternalSecret") => {
                        let Ok(c) = serde_json::from_value::<ClusterExternalSecret>(obj.clone())
                        else {
                            continue;
                        };
                        (via_json(&c.spec), direct(&c.spec))
                    }
                    _ => continue,
                };
                assert_eq!(got, want, "{}: {}", path.display(), obj["metadata"]["name"]);
                compared += usize::from(!want.is_empty());
            }
        }
        assert!(compared > 100, "only {compared} specs compared");
    }

    #[test]
    fn keys_are_left_out_and_unit_variants_and_chars_are_strings() {
        #[derive(Serialize)]
        enum Mode {
            Fast,
            Named { label: String },
        }
        #[derive(Serialize)]
        struct Spec {
            map: std::collections::BTreeMap<String, String>,
            mode: Mode,
            named: Mode,
            letter: char,
            count: u32,
            maybe: Option<String>,
        }
        let spec = Spec {
            map: [("key-name".to_string(), "value-one".to_string())].into(),
            mode: Mode::Fast,
            named: Mode::Named {
                label: "lbl".into(),
            },
            letter: 'x',
            count: 3,
            maybe: Some("there".into()),
        };
        assert_eq!(direct(&spec), via_json(&spec));
        assert_eq!(direct(&spec), ["Fast", "lbl", "there", "value-one", "x"]);
    }
}
