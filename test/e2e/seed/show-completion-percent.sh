az snapshot show -n $sourceSnapshotName -g $resourceGroupName --query [completionPercent] -o tsv
