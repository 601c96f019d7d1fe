//! argon2id password hashes in PHC strings, computed in working memory that each
//! hashing thread keeps from one hash to the next.
//!
//! Why not the `argon2` crate's `PasswordHasher`/`PasswordVerifier` as they are: they
//! allocate `auth.argon2_memory_kib` (19 MiB) zeroed for every hash and free it after.
//! An allocation that large is a fresh `mmap`: thousands of page faults, each page
//! cleared by the kernel, then an `munmap` whose TLB shootdown interrupts every core
//! that runs one of the server's threads. Under a log-in or sign-up flood that was the
//! chat's cost, not the hash's own CPU, which the hashing threads' lower priority
//! already yields. Here the memory is allocated once per hashing thread and reused;
//! argon2 overwrites every block before reading it, so reuse changes no result (the
//! tests check both ways against the crate's own functions).
//!
//! The kept memory is at most `argon2_memory_kib` per hashing thread, the memory the
//! configured concurrent hashes would hold during a flood anyway, and a thread hands
//! it back once it has computed no hash for a while ([`release_working_memory`]). A stored hash with a
//! larger memory cost than [`KEPT_BLOCKS_MAX`] (none this server made) is verified with
//! a one-off allocation, as before.

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::password_hash::{self, try_generate_salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordVerifier, Version};

/// The most blocks (1 KiB each) a thread keeps between hashes: 256 MiB, above any
/// `auth.argon2_memory_kib` a server would configure.
pub(crate) const KEPT_BLOCKS_MAX: usize = 256 * 1024;

thread_local! {
    static WORKING_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `hash` over `blocks` blocks of this thread's kept working memory.
fn with_working_memory<T>(blocks: usize, hash: impl FnOnce(&mut [Block]) -> T) -> T {
    WORKING_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        hash(&mut memory[..blocks])
    })
}

/// Frees this thread's kept working memory (the hashing pools call it once a thread
/// has been idle for `background::HASH_MEMORY_KEPT_IDLE`).
pub(crate) fn release_working_memory() {
    WORKING_MEMORY.with_borrow_mut(|memory| *memory = Vec::new());
}

/// A new PHC string for `password`, with a random salt and `hasher`'s parameters.
pub(crate) fn hash(hasher: &Argon2<'_>, password: &[u8]) -> password_hash::Result<String> {
    let salt = try_generate_salt().map_err(|_| password_hash::Error::Crypto)?;
    let params = hasher.params().clone();
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    with_working_memory(params.block_count(), |memory| {
        hasher.hash_password_into_with_memory(password, &salt, &mut out, memory)
    })?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&out)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (any argon2 variant, version and
/// parameters it names).
pub(crate) fn verify(password: &[u8], stored: &str) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(phc.algorithm.as_str()), Params::try_from(&phc))
    else {
        return false;
    };
    let Ok(version) = phc.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let blocks = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    if blocks > KEPT_BLOCKS_MAX {
        return PasswordVerifier::<PasswordHash>::verify_password(&hasher, password, &phc).is_ok();
    }
    let mut out = vec![0u8; expected.len()];
    let computed = with_working_memory(blocks, |memory| {
        hasher.hash_password_into_with_memory(password, salt, &mut out, memory)
    });
    // `Output`'s equality is constant-time.
    computed.is_ok() && Output::new(&out).is_ok_and(|out| out == *expected)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher;

    use super::*;

    fn hasher() -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(64, 1, 1, None).unwrap())
    }

    #[test]
    fn hashes_made_here_and_by_the_crate_verify_both_ways() {
        let hasher = hasher();
        let ours = hash(&hasher, b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{ours}");
        assert!(PasswordVerifier::<str>::verify_password(&hasher, b"correct horse", &ours).is_ok());
        assert!(PasswordVerifier::<str>::verify_password(&hasher, b"wrong", &ours).is_err());
        let theirs =
            PasswordHasher::<PasswordHash>::hash_password(&hasher, b"correct horse").unwrap().to_string();
        assert!(verify(b"correct horse", &theirs));
        assert!(!verify(b"wrong", &theirs));
        assert!(verify(b"correct horse", &ours));
    }

    #[test]
    fn reused_memory_changes_no_result() {
        // A larger hash first leaves this thread's memory dirty and longer than needed.
        let big = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(256, 2, 1, None).unwrap());
        let stored_big = hash(&big, b"one").unwrap();
        let stored_small =
            PasswordHasher::<PasswordHash>::hash_password(&hasher(), b"two").unwrap().to_string();
        for _ in 0..3 {
            assert!(verify(b"one", &stored_big));
            assert!(verify(b"two", &stored_small));
            assert!(!verify(b"two", &stored_big));
        }
    }

    #[test]
    fn released_memory_is_freed_and_the_next_hash_still_verifies() {
        let stored = hash(&hasher(), b"three").unwrap();
        let kept = || WORKING_MEMORY.with_borrow(|memory| memory.capacity());
        assert!(kept() >= 64, "a hash keeps its blocks");
        release_working_memory();
        assert_eq!(kept(), 0, "released");
        assert!(verify(b"three", &stored));
        assert!(kept() >= 64, "allocated again for the next hash");
    }

    #[test]
    fn malformed_or_foreign_strings_never_verify() {
        for stored in
            ["", "!", "$argon2id$v=19$m=64,t=1,p=1$", "$scrypt$ln=1,r=8,p=1$c2FsdHNhbHQ$aGFzaA", "plain"]
        {
            assert!(!verify(b"", stored), "{stored:?}");
        }
    }
}
