-- A user's default role (citizen-portal's `defaultRole`). Expand-only: older instances
-- ignore the column.
ALTER TABLE users ADD COLUMN default_role_id INTEGER REFERENCES roles (id) ON DELETE SET NULL;
