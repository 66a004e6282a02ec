-- Receipt codes the whole chain can verify (DESIGN §7). Each POS lane signs the receipt codes
-- it prints, offline, with an Ed25519 key of its own and registers the public key here with its
-- device credential. Every key a device ever registered is kept (a lane whose database was lost
-- comes back with a new key; receipts printed under the old one stay valid). Revoking the device
-- does not invalidate its keys; head office may revoke a single key (`revoked_at`).
CREATE TABLE receipt_keys (
    public_key    TEXT PRIMARY KEY,
    key_id        TEXT NOT NULL,
    device_id     TEXT NOT NULL REFERENCES devices (id),
    location_id   TEXT NOT NULL REFERENCES locations (id),
    registered_at BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoked_by    TEXT
);
CREATE INDEX receipt_keys_store ON receipt_keys (location_id, key_id);
CREATE INDEX receipt_keys_device ON receipt_keys (device_id);

-- Points claimed after the fact for a POS sale made without a member (the shopper scans the
-- receipt code), at most once per sale. The claim makes the sale the member's (`orders.member_id`,
-- `orders.points_earned`) and earns like a member sale, on what was paid minus what had been
-- refunded before the claim (`refunded_before_fen`); later returns take back the points of the
-- returned part of that base. `id` is the client's claim id (a retry answers the same claim).
CREATE TABLE receipt_claims (
    id                  TEXT PRIMARY KEY,
    sale_id             TEXT NOT NULL UNIQUE REFERENCES orders (id),
    member_id           TEXT NOT NULL REFERENCES members (id),
    points              BIGINT NOT NULL,
    base_fen            BIGINT NOT NULL,
    refunded_before_fen BIGINT NOT NULL,
    channel             TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE INDEX receipt_claims_member ON receipt_claims (member_id, created_at);
