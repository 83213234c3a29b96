package hub

import "gorm.io/gorm/clause"

var clauseLocking = clause.Locking{Strength: clause.LockingStrengthUpdate}
