"""synthohive_spark.io: read tables (DataFrame, catalog name or path) and write generated ones."""
from synthohive_spark.io.readers import FORMATS, TableSourceError, is_path, read_table
from synthohive_spark.io.writers import (MODES, OutputExistsError, Target, check_targets,
                                         read_back, resolve_target, target_exists, write_table)

__all__ = ["FORMATS", "MODES", "OutputExistsError", "Target", "TableSourceError", "check_targets",
           "is_path", "read_back", "read_table", "resolve_target", "target_exists", "write_table"]
