//! From a keep-set to a new image: collect the kept contents from the original layers (one more
//! streaming pass), write one deterministic layer, derive the config, and emit the result.

pub mod edits;
pub mod extract;
pub mod layer;
pub mod manifest;
pub mod output;
pub mod perms;
pub mod push;

pub use extract::{Contents, InStorage, Spool, Stored};
pub use layer::{write_layer, LayerBlob};
pub use manifest::SlimImage;
pub use output::Output;
