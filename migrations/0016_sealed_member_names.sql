-- Member names are personal data: sealed at rest like phone numbers (AES-256-GCM with the data
-- key, bound to the member row). `name` keeps only names written before this migration, until
-- the server seals them again (`app::privacy::reseal`), after which it is empty.
ALTER TABLE members ADD COLUMN name_enc TEXT;
