//! Included by tests that may skip a part (`mod strict;`):
//! a skip names the host fact that is missing and prints it; in strict
//! mode (`RUMP_STRICT_TESTS=1`, scripts/test.sh's default) only the facts
//! a CI machine may truly lack pass, anything else fails the test.

/// Something about the host a test needs and cannot make itself.
#[allow(dead_code)]
pub enum HostFact {
    /// Not running as root.
    Root,
    /// No private UTS namespace may be made (unshare refused).
    UtsNamespace,
    /// The scratch directory is not on a tmpfs.
    TmpfsScratch,
    /// No second file system beside the scratch directory.
    SecondFileSystem,
}

/// Skips for `fact`, saying `why`; panics in strict mode unless the fact
/// is one a CI machine may lack (root, namespaces).
pub fn skip(fact: HostFact, why: &str) {
    let may_lack = matches!(fact, HostFact::Root | HostFact::UtsNamespace);
    if std::env::var("RUMP_STRICT_TESTS").is_ok_and(|v| v == "1") && !may_lack {
        panic!("strict mode: would skip, but the host should have this: {why}");
    }
    eprintln!("skipped (host lacks it): {why}");
}
