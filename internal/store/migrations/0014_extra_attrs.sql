-- What Harbor shows of an artifact's config ("extra_attrs": an image's
-- architecture, OS, author, creation time and run config; a chart's whole
-- config), computed by the registry at push (oci.ExtraAttrs), as Harbor's
-- processors do. A listing then reads no config blob. '' = not computed:
-- the API derives it from the config blob, as before this column.
ALTER TABLE artifacts ADD COLUMN extra_attrs TEXT NOT NULL DEFAULT '';
