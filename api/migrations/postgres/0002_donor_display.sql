-- How a donor wants to appear in public lists: a display name, or anonymous.
ALTER TABLE donations
    ADD COLUMN display_name TEXT,
    ADD COLUMN anonymous BOOLEAN NOT NULL DEFAULT FALSE;
