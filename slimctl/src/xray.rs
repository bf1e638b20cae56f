//! `slimctl xray`: what each layer adds, the largest files, and the bytes lower layers store that
//! the final image cannot see, with dive's efficiency score and its CI rules.

use crate::image::index::Inefficiency;
use crate::image::{Image, LayerInfo};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct LargeFile {
    pub path: String,
    pub bytes: u64,
    pub layer: usize,
}

#[derive(Debug, Serialize)]
pub struct XrayReport {
    pub image: String,
    pub id: crate::digest::Digest,
    pub stored_bytes: u64,
    pub visible_bytes: u64,
    pub layers: Vec<LayerInfo>,
    pub largest_files: Vec<LargeFile>,
    pub wasted_bytes: u64,
    /// Wasted bytes over the bytes of all layers but the first (dive's "user" share).
    pub user_wasted_ratio: f64,
    pub efficiency: f64,
    pub inefficiencies: Vec<Inefficiency>,
}

pub fn analyze(image: &Image, top: usize) -> XrayReport {
    let waste = image.waste.as_ref().expect("xray opens the image with waste tracking");
    let mut largest: Vec<LargeFile> = image
        .index
        .iter()
        .filter(|(_, e)| e.stored_bytes() > 0)
        .map(|(p, e)| LargeFile { path: p.to_owned(), bytes: e.stored_bytes(), layer: e.layer() })
        .collect();
    largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    largest.truncate(top);
    let wasted = waste.wasted_bytes();
    let user_bytes: u64 = image.layers.iter().skip(1).map(|l| l.bytes).sum();
    let mut inefficiencies = waste.inefficiencies();
    inefficiencies.truncate(top);
    XrayReport {
        image: image.name.clone(),
        id: image.config.digest.clone(),
        stored_bytes: image.stored_bytes(),
        visible_bytes: image.index.visible_bytes(),
        layers: image.layers.clone(),
        largest_files: largest,
        wasted_bytes: wasted,
        user_wasted_ratio: if user_bytes == 0 { 0.0 } else { wasted as f64 / user_bytes as f64 },
        efficiency: waste.efficiency(),
        inefficiencies,
    }
}

/// dive's CI rules. A `None` threshold is disabled.
#[derive(Debug, Clone, Serialize)]
pub struct CiRules {
    pub lowest_efficiency: Option<f64>,
    pub highest_wasted_bytes: Option<u64>,
    pub highest_user_wasted_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CiResult {
    pub rule: &'static str,
    pub passed: bool,
    pub detail: String,
}

pub fn evaluate(report: &XrayReport, rules: &CiRules) -> Vec<CiResult> {
    let mut out = Vec::new();
    if let Some(min) = rules.lowest_efficiency {
        out.push(CiResult {
            rule: "lowest-efficiency",
            passed: report.efficiency >= min,
            detail: format!("efficiency {:.4} (lowest allowed {min})", report.efficiency),
        });
    }
    if let Some(max) = rules.highest_wasted_bytes {
        out.push(CiResult {
            rule: "highest-wasted-bytes",
            passed: report.wasted_bytes <= max,
            detail: format!("wasted {} bytes (highest allowed {max})", report.wasted_bytes),
        });
    }
    if let Some(max) = rules.highest_user_wasted_ratio {
        out.push(CiResult {
            rule: "highest-user-wasted-percent",
            passed: report.user_wasted_ratio <= max,
            detail: format!(
                "user wasted {:.2}% (highest allowed {:.2}%)",
                report.user_wasted_ratio * 100.0,
                max * 100.0
            ),
        });
    }
    out
}

/// Thresholds from a dive-style CI file (`.dive-ci`):
/// `rules: {lowestEfficiency: 0.95, highestWastedBytes: 20MB, highestUserWastedPercent: 0.20}`;
/// a value of "disabled" turns a rule off. Rules absent from the file are None.
pub fn dive_ci_rules(text: &str) -> Result<CiRules, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let rules = v.get("rules").ok_or("no `rules:` section")?;
    let num = |key: &str| -> Result<Option<f64>, String> {
        match rules.get(key) {
            None => Ok(None),
            Some(serde_yaml::Value::String(s)) if s == "disabled" => Ok(None),
            Some(serde_yaml::Value::Number(n)) => Ok(n.as_f64()),
            Some(serde_yaml::Value::String(s)) => {
                s.trim().parse().map(Some).map_err(|_| format!("{key}: {s:?} is not a number"))
            }
            Some(other) => Err(format!("{key}: unexpected value {other:?}")),
        }
    };
    let bytes = match rules.get("highestWastedBytes") {
        None => None,
        Some(serde_yaml::Value::String(s)) if s == "disabled" => None,
        Some(serde_yaml::Value::Number(n)) => n.as_u64(),
        Some(serde_yaml::Value::String(s)) => {
            Some(crate::units::parse_bytes(s).map_err(|e| format!("highestWastedBytes: {e}"))?)
        }
        Some(other) => return Err(format!("highestWastedBytes: unexpected value {other:?}")),
    };
    Ok(CiRules {
        lowest_efficiency: num("lowestEfficiency")?,
        highest_wasted_bytes: bytes,
        highest_user_wasted_ratio: num("highestUserWastedPercent")?,
    })
}

#[cfg(test)]
mod dive_ci_tests {
    use super::*;

    #[test]
    fn reads_dive_ci_files() {
        let r = dive_ci_rules(
            "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: disabled\n",
        )
        .unwrap();
        assert_eq!(r.lowest_efficiency, Some(0.95));
        assert_eq!(r.highest_wasted_bytes, Some(20_000_000));
        assert_eq!(r.highest_user_wasted_ratio, None);
        assert!(dive_ci_rules("rules:\n  lowestEfficiency: lots\n").unwrap_err().contains("lowestEfficiency"));
        assert!(dive_ci_rules("other: 1\n").unwrap_err().contains("rules"));
    }
}
