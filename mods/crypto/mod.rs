//! The body encryption module: secp256k1 ECDH with AES-256-GCM, and usrv's scheme for compatibility.
