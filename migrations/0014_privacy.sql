-- Privacy (PIPL, issue 15): consent to the privacy policy recorded with its version, and
-- deleted (anonymised) member accounts. A deleted member's row stays, because the ledgers and
-- orders reference it, but its phone is replaced and `deleted_at` is set.
ALTER TABLE members ADD COLUMN deleted_at BIGINT;

CREATE TABLE privacy_consents (
    member_id      TEXT NOT NULL REFERENCES members (id),
    policy_version TEXT NOT NULL,
    accepted_at    BIGINT NOT NULL,
    client_addr    TEXT NOT NULL,
    PRIMARY KEY (member_id, policy_version)
);
