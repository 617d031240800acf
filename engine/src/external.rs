//! Resources a process shares with processes outside the dump, as the command line names them.
//!
//! `crust dump --external pipe:[INODE]` lets a pipe whose other end lives outside the process be
//! dumped (as a pipe end, without its data), and `crust restore --inherit-fd fd[K]:pipe:[INODE]`
//! gives the restored process crust's own fd K in its place. A pipe is named as its
//! `/proc/PID/fd` link shows it.
//!
//! `--external file[MNT_ID:INODE]` does the same for an open regular file or FIFO whose open
//! description (and so its offset) a process outside the dump shares: the mount id from
//! `/proc/PID/fdinfo/FD` and the inode from stat(2), both in hexadecimal. It is restored with
//! `--inherit-fd fd[K]:file[MNT_ID:INODE]`. The syntax is CRIU's for both.

use std::fmt;
use std::os::fd::RawFd;
use std::str::FromStr;

/// A resource named by `--external` or `--inherit-fd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum External {
    /// `pipe:[INODE]`: a pipe, by the inode both its ends share.
    Pipe {
        /// The pipe's inode.
        inode: u64,
    },
    /// `file[MNT_ID:INODE]`: an open regular file or FIFO, by the mount it was opened on and
    /// its inode (both written in hexadecimal).
    File {
        /// The mount id (`mnt_id:` in fdinfo).
        mnt_id: u32,
        /// The inode number.
        inode: u64,
    },
}

/// `fd[K]:RESOURCE`: crust's fd `K` takes the place of `RESOURCE` in the restored process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InheritFd {
    /// crust's own fd, inherited from whoever runs it.
    pub fd: RawFd,
    /// What it replaces.
    pub resource: External,
}

/// Why a name given on the command line was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalSyntaxError {
    /// The resource is neither `pipe:[INODE]` nor `file[MNT_ID:INODE]`.
    #[error(
        "{text:?} is neither pipe:[INODE] (decimal) nor file[MNT_ID:INODE] (hexadecimal), \
         the kinds of external resource crust knows"
    )]
    Resource {
        /// What was given.
        text: String,
    },
    /// The inherited fd part is not `fd[K]:`.
    #[error("{text:?} is not fd[K]:RESOURCE (K: a file descriptor number of crust's)")]
    InheritFd {
        /// What was given.
        text: String,
    },
}

impl FromStr for External {
    type Err = ExternalSyntaxError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let pipe = || {
            let inode = text.strip_prefix("pipe:[")?.strip_suffix(']')?;
            Some(Self::Pipe {
                inode: decimal(inode)?,
            })
        };
        let file = || {
            let inside = text.strip_prefix("file[")?.strip_suffix(']')?;
            let (mnt_id, inode) = inside.split_once(':')?;
            Some(Self::File {
                mnt_id: hexadecimal(mnt_id)?,
                inode: hexadecimal(inode)?,
            })
        };
        pipe()
            .or_else(file)
            .ok_or_else(|| ExternalSyntaxError::Resource { text: text.into() })
    }
}

impl fmt::Display for External {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pipe { inode } => write!(f, "pipe:[{inode}]"),
            Self::File { mnt_id, inode } => write!(f, "file[{mnt_id:x}:{inode:x}]"),
        }
    }
}

impl FromStr for InheritFd {
    type Err = ExternalSyntaxError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ExternalSyntaxError::InheritFd { text: text.into() };
        let (fd, resource) = text
            .strip_prefix("fd[")
            .and_then(|rest| rest.split_once("]:"))
            .ok_or_else(bad)?;
        let fd = decimal::<RawFd>(fd).ok_or_else(bad)?;
        Ok(Self {
            fd,
            resource: resource.parse()?,
        })
    }
}

impl fmt::Display for InheritFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fd[{}]:{}", self.fd, self.resource)
    }
}

/// A number written only with decimal digits (no sign, no spaces), within `T`.
fn decimal<T: FromStr>(text: &str) -> Option<T> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

/// A number written only with hexadecimal digits (no `0x`, no sign), within `T`.
fn hexadecimal<T: TryFrom<u64>>(text: &str) -> Option<T> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit());
    let value = digits
        .then(|| u64::from_str_radix(text, 16).ok())
        .flatten()?;
    T::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_is_named_as_its_fd_link_shows_it() {
        let pipe: External = "pipe:[81234]".parse().unwrap();
        assert_eq!(pipe, External::Pipe { inode: 81234 });
        assert_eq!(pipe.to_string(), "pipe:[81234]");
    }

    #[test]
    fn anything_else_is_refused_with_the_text() {
        for text in [
            "",
            "pipe:[]",
            "pipe:[12",
            "pipe:12",
            "pipe:[+12]",
            "pipe:[-1]",
            "pipe:[ 12]",
            "pipe:[12] ",
            "pipe:[1x]",
            "pipe:[99999999999999999999]",
            "socket:[12]",
            "PIPE:[12]",
            "file[]",
            "file[1c]",
            "file[1c:]",
            "file[:2a]",
            "file[0x1c:2a]",
            "file[1c:2a",
            "file[1c:2g]",
            "file[100000000:2a]",
            "file[1c:2a:3]",
        ] {
            assert_eq!(
                text.parse::<External>(),
                Err(ExternalSyntaxError::Resource { text: text.into() }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_file_is_named_by_mount_and_inode_in_hexadecimal() {
        let file: External = "file[1c:2A3f]".parse().unwrap();
        assert_eq!(
            file,
            External::File {
                mnt_id: 0x1c,
                inode: 0x2a3f
            }
        );
        assert_eq!(file.to_string(), "file[1c:2a3f]");
        let inherit: InheritFd = "fd[3]:file[1c:2a3f]".parse().unwrap();
        assert_eq!(inherit.resource, file);
    }

    #[test]
    fn an_inherited_fd_names_crusts_fd_and_the_pipe() {
        let inherit: InheritFd = "fd[7]:pipe:[81234]".parse().unwrap();
        assert_eq!(
            inherit,
            InheritFd {
                fd: 7,
                resource: External::Pipe { inode: 81234 }
            }
        );
        assert_eq!(inherit.to_string(), "fd[7]:pipe:[81234]");
        assert_eq!("fd[0]:pipe:[1]".parse::<InheritFd>().map(|i| i.fd), Ok(0));
    }

    #[test]
    fn a_bad_fd_part_is_refused_with_the_text() {
        for text in [
            "7:pipe:[1]",
            "fd7:pipe:[1]",
            "fd[]:pipe:[1]",
            "fd[-1]:pipe:[1]",
            "fd[x]:pipe:[1]",
            "fd[7]pipe:[1]",
            "fd[4294967296]:pipe:[1]",
            "fd[7]",
        ] {
            assert_eq!(
                text.parse::<InheritFd>(),
                Err(ExternalSyntaxError::InheritFd { text: text.into() }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_bad_resource_after_a_good_fd_names_the_resource() {
        assert_eq!(
            "fd[7]:socket:[1]".parse::<InheritFd>(),
            Err(ExternalSyntaxError::Resource {
                text: "socket:[1]".into()
            })
        );
    }
}
