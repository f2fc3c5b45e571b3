-- Empties the copy; the mirror trigger from 152000 stays, so the new table is back to what it
-- holds after step 1 (only rows written since). Run 152000's down to remove it entirely.
TRUNCATE hs.customer_equipment_new;
