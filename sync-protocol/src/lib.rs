//! The sans-I/O sync protocol shared by server and device.
//!
//! It will hold the versioned CBOR envelope, the section document schemas and the device-side
//! sync state machine (see DESIGN.md "Sync design"). It never performs I/O.

/// Version of the wire envelope; carried in every frame from the first release on.
pub const WIRE_VERSION: u16 = 1;
