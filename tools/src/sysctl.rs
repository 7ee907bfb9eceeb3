//! sysctl over any kernel handle, by name: names are mapped to numbers by
//! asking the kernel for each level's children (CTL_QUERY), as NetBSD's
//! sysctlnametomib does, so the tool knows no MIB of its own.

use rump_abi::native::errno::{EINVAL, ENOENT, ENOTDIR};
use rump_abi::native::flags::{
    CTLTYPE_BOOL, CTLTYPE_INT, CTLTYPE_NODE, CTLTYPE_QUAD, CTLTYPE_STRING, CTL_QUERY, SYSCTL_VERSION,
};
use rump_abi::native::sys::rump_sys___sysctl;
use rump_abi::native::types::sysctlnode;
use rump_abi::pod::Pod;
use rump_abi::{Errno, Syscall};

/// A node found by name: its numbers and its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub mib: Vec<i32>,
    pub ctltype: u32,
}

fn node_name(n: &sysctlnode) -> String {
    let len = n.sysctl_name.iter().position(|&b| b == 0).unwrap_or(n.sysctl_name.len());
    String::from_utf8_lossy(&n.sysctl_name[..len]).into_owned()
}

/// Reads `mib` into a buffer sized by asking first; `new` goes along
/// (CTL_QUERY's version stamp).
fn read_raw(k: &impl Syscall, mib: &[i32], new: &[u8]) -> Result<Vec<u8>, Errno> {
    let (m, n) = (mib.len() as u32, mib.as_ptr());
    let newp = if new.is_empty() { std::ptr::null() } else { new.as_ptr().cast() };
    let mut len = 0usize;
    rump_sys___sysctl(k, n, m, std::ptr::null_mut(), &mut len, newp, new.len())?;
    let mut buf = vec![0u8; len];
    rump_sys___sysctl(k, n, m, buf.as_mut_ptr().cast(), &mut len, newp, new.len())?;
    buf.truncate(len);
    Ok(buf)
}

/// The children of the node at `mib` (empty for the root).
pub fn children(k: &impl Syscall, mib: &[i32]) -> Result<Vec<(String, sysctlnode)>, Errno> {
    let mut q = mib.to_vec();
    q.push(CTL_QUERY);
    // As sysctl(3) requires, the query says which node layout it expects.
    let stamp = sysctlnode { sysctl_flags: SYSCTL_VERSION, ..sysctlnode::default() };
    let raw = read_raw(k, &q, stamp.as_bytes())?;
    let size = std::mem::size_of::<sysctlnode>();
    Ok(raw
        .chunks_exact(size)
        .map(|c| {
            let mut n = sysctlnode::default();
            n.as_bytes_mut().copy_from_slice(c);
            (node_name(&n), n)
        })
        .collect())
}

/// Maps `kern.hostname` to its numbers and type.
pub fn resolve(k: &impl Syscall, name: &str) -> Result<Found, Errno> {
    let mut found = Found { mib: Vec::new(), ctltype: CTLTYPE_NODE };
    for part in name.split('.') {
        if found.ctltype != CTLTYPE_NODE {
            return Err(ENOTDIR);
        }
        let kids = children(k, &found.mib)?;
        let (_, n) = kids.into_iter().find(|(n, _)| n == part).ok_or(ENOENT)?;
        found.mib.push(n.sysctl_num);
        found.ctltype = n.sysctl_flags & 0xf;
    }
    Ok(found)
}

/// A value as sysctl(8) prints it.
pub fn read(k: &impl Syscall, f: &Found) -> Result<String, Errno> {
    let raw = read_raw(k, &f.mib, &[])?;
    let int = |n: usize| raw.get(..n).ok_or(EINVAL);
    Ok(match f.ctltype {
        CTLTYPE_INT => i32::from_ne_bytes(int(4)?.try_into().map_err(|_| EINVAL)?).to_string(),
        CTLTYPE_QUAD => i64::from_ne_bytes(int(8)?.try_into().map_err(|_| EINVAL)?).to_string(),
        CTLTYPE_BOOL => (int(1)?[0] != 0).to_string(),
        CTLTYPE_STRING => {
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).into_owned()
        }
        _ => raw.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

/// Writes `value` given as text, in the node's type.
pub fn write(k: &impl Syscall, f: &Found, value: &str) -> Result<(), Errno> {
    let bytes = match f.ctltype {
        CTLTYPE_INT => value.parse::<i32>().map_err(|_| EINVAL)?.to_ne_bytes().to_vec(),
        CTLTYPE_QUAD => value.parse::<i64>().map_err(|_| EINVAL)?.to_ne_bytes().to_vec(),
        CTLTYPE_BOOL => vec![matches!(value, "1" | "true") as u8],
        CTLTYPE_STRING => [value.as_bytes(), b"\0"].concat(),
        _ => return Err(EINVAL),
    };
    let m = &f.mib;
    rump_sys___sysctl(
        k,
        m.as_ptr(),
        m.len() as u32,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        bytes.as_ptr().cast(),
        bytes.len(),
    )
    .map(drop)
}

/// Every leaf under `prefix` (all of them for an empty prefix), by name.
pub fn walk(k: &impl Syscall, prefix: &Found, name: &str, out: &mut Vec<(String, Found)>) -> Result<(), Errno> {
    for (child, n) in children(k, &prefix.mib)? {
        let full = if name.is_empty() { child } else { format!("{name}.{child}") };
        let mut mib = prefix.mib.clone();
        mib.push(n.sysctl_num);
        let f = Found { mib, ctltype: n.sysctl_flags & 0xf };
        if f.ctltype == CTLTYPE_NODE {
            walk(k, &f, &full, out)?;
        } else {
            out.push((full, f));
        }
    }
    Ok(())
}
