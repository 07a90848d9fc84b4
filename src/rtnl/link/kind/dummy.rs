//! `dummy` links.

/// A `dummy` link: a black hole with an address, for tests and for
/// holding service addresses (`ip link add NAME type dummy`). Has no
/// settings. Some kernels are built without it ("Unknown device type").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dummy;
