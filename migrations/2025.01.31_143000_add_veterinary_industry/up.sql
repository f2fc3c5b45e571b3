-- New industry: veterinary services. Animals belong to a business and are owned by a customer
-- (the shared hs.customers table).

CREATE SCHEMA IF NOT EXISTS vet;

CREATE TABLE IF NOT EXISTS vet.animals (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id UUID NOT NULL REFERENCES tenant_mgmt.businesses(id) ON DELETE CASCADE,
    owner_id UUID REFERENCES hs.customers(id) ON DELETE SET NULL,

    -- Animal identification
    animal_name TEXT NOT NULL,
    species TEXT NOT NULL, -- 'dog', 'cat', 'bird', 'reptile', etc.
    breed TEXT,
    color TEXT,

    -- Physical attributes
    weight_lbs DECIMAL(6,2),
    date_of_birth DATE,
    sex TEXT, -- 'male', 'female', 'unknown'
    spayed_neutered BOOLEAN DEFAULT false,

    -- Identification
    microchip_number TEXT,
    tattoo_number TEXT,
    collar_tag TEXT,

    -- Medical information
    allergies TEXT[] DEFAULT '{}',
    medications TEXT[] DEFAULT '{}',
    medical_conditions TEXT[] DEFAULT '{}',

    -- Insurance
    pet_insurance_provider TEXT,
    policy_number TEXT,

    -- Status
    animal_status TEXT DEFAULT 'active', -- 'active', 'deceased', 'lost'

    -- Audit fields
    created_at TIMESTAMPTZ DEFAULT now(),
    updated_at TIMESTAMPTZ DEFAULT now(),
    created_by UUID REFERENCES user_mgmt.users(id),
    updated_by UUID REFERENCES user_mgmt.users(id),

    -- Soft delete
    deleted_at TIMESTAMPTZ,
    deleted_by UUID REFERENCES user_mgmt.users(id)
);

ALTER TABLE vet.animals ENABLE ROW LEVEL SECURITY;
CREATE POLICY vet_animals_tenant_isolation ON vet.animals
    FOR ALL USING (business_id = auth.get_current_business_id());

CREATE INDEX IF NOT EXISTS idx_vet_animals_business_owner ON vet.animals(business_id, owner_id);
CREATE INDEX IF NOT EXISTS idx_vet_animals_species_breed ON vet.animals(business_id, species, breed);
-- owner_id alone, so ON DELETE SET NULL from hs.customers does not scan vet.animals.
CREATE INDEX IF NOT EXISTS idx_vet_animals_owner ON vet.animals(owner_id);
