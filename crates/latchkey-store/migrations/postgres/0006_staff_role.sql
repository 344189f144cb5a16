-- citizen-portal's origin seeded `staff` (role id 3 in its namespace): a built-in role with no
-- administrative right anywhere. A custom role of that name becomes the built-in one.
INSERT INTO roles (name, description, builtin, created_at, updated_at)
VALUES ('staff', 'Staff in citizen-portal: no administrative right', TRUE, 0, 0)
ON CONFLICT (name) DO UPDATE SET builtin = TRUE;
