//! CPU feature report for health checks and start-up logs.

/// Whether this CPU has AES and carry-less multiplication instructions (AES-NI + PCLMULQDQ
/// on x86-64, the ARMv8 crypto extensions on aarch64), which the `aes` and `ghash` crates
/// detect and use at run time. Without them AES-GCM falls back to a constant-time software
/// implementation that is several times slower.
///
/// ```
/// let accelerated: bool = keel_crypto::aes_hardware_accelerated();
/// ```
#[must_use]
pub fn aes_hardware_accelerated() -> bool {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn agrees_with_proc_cpuinfo() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap();
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        assert_eq!(
            super::aes_hardware_accelerated(),
            has("aes") && has("pclmulqdq")
        );
    }
}
