az snapshot show -g resourcegroupname -n snapshotname --query [creationData.logicalSectorSize] -o tsv
