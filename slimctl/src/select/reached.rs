//! What the coverage rules reached by reading code, not by watching it run: a module a kept
//! source imports. A rule's reading is a guess; the sweep ([`crate::sweep`]) turns it into a
//! fact by loading each item in the original image.

use serde::Serialize;

/// The language runtime that loads an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    Python,
    Node,
    Perl,
    Ruby,
}

/// One item a runtime can load by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Reached {
    pub runtime: Runtime,
    /// Python: dotted module name (`xml.etree.ElementTree`); for `from X import Y` where `Y`
    /// may be a name rather than a submodule, `X.Y` (the sweep then takes the attribute).
    /// Node: the module's file, as the rule resolved it (required by its absolute path).
    /// Perl: the module's name (`JSON::PP`).
    /// Ruby: a feature (`csv`), or a constant path from the top (`::Rack::Auth::Basic`):
    /// naming a constant runs the autoload that defines it.
    pub name: String,
}

impl Reached {
    pub fn python(name: impl Into<String>) -> Reached {
        Reached { runtime: Runtime::Python, name: name.into() }
    }

    pub fn node(file: impl Into<String>) -> Reached {
        Reached { runtime: Runtime::Node, name: file.into() }
    }

    pub fn perl(module: impl Into<String>) -> Reached {
        Reached { runtime: Runtime::Perl, name: module.into() }
    }

    pub fn ruby(feature_or_constant: impl Into<String>) -> Reached {
        Reached { runtime: Runtime::Ruby, name: feature_or_constant.into() }
    }

    /// How the sweep's report names the item: `import decimal`, `require /app/node_modules/x/index.js`.
    pub fn what(&self) -> String {
        match self.runtime {
            Runtime::Python => format!("import {}", self.name),
            Runtime::Ruby if self.name.starts_with("::") => format!("constant {}", &self.name[2..]),
            Runtime::Node | Runtime::Perl | Runtime::Ruby => format!("require {}", self.name),
        }
    }
}
