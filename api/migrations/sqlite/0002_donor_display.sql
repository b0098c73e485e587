-- How a donor wants to appear in public lists: a display name, or anonymous.
ALTER TABLE donations ADD COLUMN display_name TEXT;
ALTER TABLE donations ADD COLUMN anonymous INTEGER NOT NULL DEFAULT 0 CHECK (anonymous IN (0, 1));
