//! Which instruction set the product kernels use: AVX-512, AVX2 + FMA +
//! F16C, or portable code, detected once at load or forced by
//! `GPT2_CPU_KERNELS=avx512|avx2|portable`.

use crate::{Error, Result};

/// The instruction set the kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelPath {
    Avx512,
    Avx2,
    Portable,
}

impl KernelPath {
    /// Every path, widest first.
    pub const ALL: [KernelPath; 3] = [KernelPath::Avx512, KernelPath::Avx2, KernelPath::Portable];

    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx2 => "avx2",
            KernelPath::Portable => "portable",
        }
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            KernelPath::Portable => true,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => {
                std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                    && std::is_x86_feature_detected!("f16c")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest supported path, or the one `GPT2_CPU_KERNELS` names.
    pub fn detect() -> Result<KernelPath> {
        Self::parse(&std::env::var("GPT2_CPU_KERNELS").unwrap_or_default())
    }

    /// The path `name` (`auto`, or empty: the widest supported), if this
    /// CPU can run it.
    pub fn parse(name: &str) -> Result<KernelPath> {
        let name = name.trim();
        if name.is_empty() || name == "auto" {
            let widest = Self::ALL.into_iter().find(|p| p.supported());
            return Ok(widest.unwrap_or(KernelPath::Portable));
        }
        let path = Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                Error::input(format!(
                    "GPT2_CPU_KERNELS={name:?}: expected auto, avx512, avx2 or portable"
                ))
            })?;
        if !path.supported() {
            return Err(Error::input(format!(
                "GPT2_CPU_KERNELS={name}: this CPU cannot run the {name} kernels; \
                 use auto to pick the widest it can"
            )));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_chosen_by_name_and_checked() {
        assert_eq!(
            KernelPath::parse("").unwrap(),
            KernelPath::parse("auto").unwrap()
        );
        assert_eq!(KernelPath::parse("portable").unwrap(), KernelPath::Portable);
        let err = KernelPath::parse("neon").unwrap_err().to_string();
        assert!(
            err.contains("expected auto, avx512, avx2 or portable"),
            "{err}"
        );
        for p in KernelPath::ALL {
            assert_eq!(KernelPath::parse(p.name()).is_ok(), p.supported(), "{p:?}");
        }
    }
}
