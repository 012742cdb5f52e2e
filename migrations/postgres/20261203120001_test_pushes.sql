-- Pushes verified with Roku's test key set (dashboard test messages) are stored like any
-- other, but marked, so nobody mistakes them for billing events. Twin: ../sqlite/ (same name).
ALTER TABLE pushes ADD COLUMN test BOOLEAN NOT NULL DEFAULT FALSE;
