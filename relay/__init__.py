"""The ECC Chat Lab relay: routes public keys and ciphertext inside rooms, never plaintext."""
