//! The seccomp filter: `ioctl(TIOCSTI)` and `ioctl(TIOCLINUX)` fail with EPERM, everything
//! else is allowed. TIOCSTI pushes bytes into the terminal's input queue, so a sandboxed
//! program could type commands into whatever reads the PTY after it exits.
//!
//! Hand-assembled instead of seccompiler: seccompiler builds a filter for one architecture and
//! kills every process of another one (a 32-bit helper binary dies on its first syscall),
//! while the ioctl of the compat ABIs (i386 on x86_64, arm on aarch64) has to be filtered too,
//! not allowed and not killed. The program is 15 instructions and is checked by an interpreter
//! in the tests for every architecture path, and by the kernel in the integration tests.

use std::io::{Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::Error;

pub(crate) const TIOCSTI: u32 = 0x5412;
pub(crate) const TIOCLINUX: u32 = 0x541C;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

/// Offsets in `struct seccomp_data`; `args[1]`'s low 32 bits on a little-endian machine
/// (the kernel truncates the ioctl request to 32 bits, so the high half must not matter).
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARG1_LOW: u32 = 24;

/// One `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub(crate) code: u16,
    pub(crate) jt: u8,
    pub(crate) jf: u8,
    pub(crate) k: u32,
}

fn ld(k: u32) -> Insn {
    Insn {
        code: BPF_LD_W_ABS,
        jt: 0,
        jf: 0,
        k,
    }
}
fn jeq(k: u32, jt: u8, jf: u8) -> Insn {
    Insn {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}
fn ret(k: u32) -> Insn {
    Insn {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k,
    }
}

/// (native AUDIT_ARCH, its ioctl number, a second native ioctl number, compat AUDIT_ARCH, its
/// ioctl number). On x86_64 the second is x32's (x86_64's arch with bit 30 set, ioctl 514);
/// the compat ABIs are i386 and arm.
#[cfg(target_arch = "x86_64")]
const ARCHES: (u32, u32, u32, u32, u32) = (0xC000_003E, 16, 0x4000_0000 | 514, 0x4000_0003, 54);
#[cfg(target_arch = "aarch64")]
const ARCHES: (u32, u32, u32, u32, u32) = (0xC000_00B7, 29, 29, 0x4000_0028, 54);

/// The filter program. Jump offsets count instructions after the jump.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn program() -> Vec<Insn> {
    let (native, ioctl, ioctl2, compat, compat_ioctl) = ARCHES;
    vec![
        /* 0 */ ld(OFFSET_ARCH),
        /* 1 */ jeq(native, 0, 4), // -> 2 | 6
        /* 2 */ ld(OFFSET_NR),
        /* 3 */ jeq(ioctl, 6, 0), // -> 10 | 4
        /* 4 */ jeq(ioctl2, 5, 0), // -> 10 | 5
        /* 5 */ ret(RET_ALLOW),
        /* 6 */ jeq(compat, 0, 2), // -> 7 | 9
        /* 7 */ ld(OFFSET_NR),
        /* 8 */ jeq(compat_ioctl, 1, 0), // -> 10 | 9
        /* 9 */ ret(RET_ALLOW),
        /* 10 */ ld(OFFSET_ARG1_LOW),
        /* 11 */ jeq(TIOCSTI, 2, 0), // -> 14 | 12
        /* 12 */ jeq(TIOCLINUX, 1, 0), // -> 14 | 13
        /* 13 */ ret(RET_ALLOW),
        /* 14 */ ret(RET_ERRNO | libc::EPERM as u32),
    ]
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) fn program() -> Vec<Insn> {
    Vec::new()
}

fn check_supported(program: &[Insn]) -> Result<(), Error> {
    if program.is_empty() {
        return Err(Error::Seccomp(
            "no TIOCSTI filter for this CPU architecture (x86_64 and aarch64 only)".into(),
        ));
    }
    Ok(())
}

/// The program as the bytes bwrap's `--seccomp FD` reads (native-endian `sock_filter`s).
pub(crate) fn bytes(program: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for insn in program {
        out.extend_from_slice(&insn.code.to_ne_bytes());
        out.push(insn.jt);
        out.push(insn.jf);
        out.extend_from_slice(&insn.k.to_ne_bytes());
    }
    out
}

/// A memfd holding the program, positioned at its start. It is close-on-exec; the caller
/// clears that flag on the descriptor bwrap must inherit ([`inheritable`]).
pub fn memfd() -> Result<OwnedFd, Error> {
    let program = program();
    check_supported(&program)?;
    // SAFETY: the name is a NUL-terminated literal; the result is checked before use.
    let fd = unsafe { libc::memfd_create(c"walkie-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::Seccomp(format!(
            "memfd_create: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: fd was just returned by memfd_create and is owned by nobody else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(&bytes(&program))
        .and_then(|()| file.rewind())
        .map_err(|e| Error::Seccomp(format!("writing the filter: {e}")))?;
    Ok(file.into())
}

/// Clears close-on-exec so `fd` survives the exec of bwrap.
pub fn inheritable(fd: &OwnedFd) -> Result<RawFd, Error> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_SETFD on a descriptor we own.
    if unsafe { libc::fcntl(raw, libc::F_SETFD, 0) } < 0 {
        return Err(Error::Seccomp(format!(
            "clearing close-on-exec: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(raw)
}

/// Installs the filter on the calling thread and its future children (the Landlock-only
/// mechanism, where there is no bwrap to do it). Sets no_new_privs, which seccomp requires.
pub fn apply_to_self() -> Result<(), Error> {
    let program = program();
    check_supported(&program)?;
    let filters: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let len =
        u16::try_from(filters.len()).map_err(|_| Error::Seccomp("program too long".into()))?;
    let prog = libc::sock_fprog {
        len,
        filter: filters.as_ptr().cast_mut(),
    };
    // SAFETY: plain prctl calls; `prog` points at `filters`, alive for the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(Error::Seccomp(format!(
                "no_new_privs: {}",
                std::io::Error::last_os_error()
            )));
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(Error::Seccomp(format!(
                "installing the filter: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::*;

    /// Runs a program of loads, equality jumps and returns the way the kernel does.
    fn run(program: &[Insn], nr: u32, arch: u32, arg1: u64) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        data[24..32].copy_from_slice(&arg1.to_le_bytes());
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let insn = program[pc];
            pc += 1;
            match insn.code {
                BPF_LD_W_ABS => {
                    let at = insn.k as usize;
                    acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
                }
                BPF_JEQ_K => pc += usize::from(if acc == insn.k { insn.jt } else { insn.jf }),
                BPF_RET_K => return insn.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    const DENY: u32 = RET_ERRNO | libc::EPERM as u32;

    #[test]
    fn blocks_tiocsti_and_tioclinux_on_every_abi_and_nothing_else() {
        let p = program();
        let (native, ioctl, ioctl2, compat, compat_ioctl) = ARCHES;
        for (arch, nr) in [(native, ioctl), (native, ioctl2), (compat, compat_ioctl)] {
            assert_eq!(run(&p, nr, arch, TIOCSTI.into()), DENY);
            assert_eq!(run(&p, nr, arch, TIOCLINUX.into()), DENY);
            // The kernel ignores the request's high half; so must the filter.
            assert_eq!(
                run(&p, nr, arch, 0xdead_0000_0000 | u64::from(TIOCSTI)),
                DENY
            );
            assert_eq!(run(&p, nr, arch, 0x5413 /* TIOCGWINSZ */), RET_ALLOW);
        }
        // Other syscalls with the same argument pass, on both ABIs.
        assert_eq!(run(&p, 1, native, TIOCSTI.into()), RET_ALLOW);
        assert_eq!(run(&p, 4, compat, TIOCSTI.into()), RET_ALLOW);
        assert_eq!(bytes(&p).len(), p.len() * 8);
    }
}
