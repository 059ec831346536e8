/**
 * @module cli/output/az-models
 * The output models of az 2.45, field by field and in az's order, so that snapdisk prints what
 * az prints: disks as `azure.mgmt.compute.v2022_07_02.models.Disk`, snapshots as
 * `v2022_03_02.models.Snapshot` (the api-versions az 2.45 uses for them), grants as `AccessUri`,
 * resource groups as `azure.mgmt.resource.resources.v2021_04_01.models.ResourceGroup`.
 *
 * Each field is `azKey:wirePath:type`. The az key is the SDK attribute name in az's camelCase
 * (`disk_size_gb` → `diskSizeGb`, `disk_m_bps_read_write` → `diskMBpsReadWrite`), the wire path
 * where the ARM JSON has it (`properties.` flattened away), and the type one of `str`, `int`,
 * `float`, `bool`, `date` (printed as Python's isoformat), `map` (a string map, keys kept),
 * `list` (of strings), a model name, or `[Model]` (a list of it).
 *
 * Derived from the installed SDK (Debian azure-cli 2.45) with, for each model class,
 * `cls.__init__` on an empty instance → `inst.__dict__` order joined with `cls._attribute_map`
 * (key and type). test/e2e/cli-az.test.ts checks the result against az's own output.
 */

export type AzModel = readonly string[];

const SKU = ['name:name:str', 'tier:tier:str'];
const EXTENDED_LOCATION = ['name:name:str', 'type:type:str'];
const PURCHASE_PLAN = ['name:name:str', 'publisher:publisher:str', 'product:product:str', 'promotionCode:promotionCode:str'];
const IMAGE_DISK_REFERENCE = ['id:id:str', 'sharedGalleryImageId:sharedGalleryImageId:str', 'communityGalleryImageId:communityGalleryImageId:str', 'lun:lun:int'];
const SOURCE_VAULT = ['id:id:str'];
const KEY_VAULT_SECRET = ['sourceVault:sourceVault:SourceVault', 'secretUrl:secretUrl:str'];
const KEY_VAULT_KEY = ['sourceVault:sourceVault:SourceVault', 'keyUrl:keyUrl:str'];
const ENCRYPTION_SETTINGS_ELEMENT = ['diskEncryptionKey:diskEncryptionKey:KeyVaultAndSecretReference', 'keyEncryptionKey:keyEncryptionKey:KeyVaultAndKeyReference'];
const ENCRYPTION_SETTINGS_COLLECTION = ['enabled:enabled:bool', 'encryptionSettings:encryptionSettings:[EncryptionSettingsElement]', 'encryptionSettingsVersion:encryptionSettingsVersion:str'];
const ENCRYPTION = ['diskEncryptionSetId:diskEncryptionSetId:str', 'type:type:str'];
const SECURITY_PROFILE = ['securityType:securityType:str', 'secureVmDiskEncryptionSetId:secureVMDiskEncryptionSetId:str'];

const CREATION_DATA_SNAPSHOT = [
  'createOption:createOption:str',
  'storageAccountId:storageAccountId:str',
  'imageReference:imageReference:ImageDiskReference',
  'galleryImageReference:galleryImageReference:ImageDiskReference',
  'sourceUri:sourceUri:str',
  'sourceResourceId:sourceResourceId:str',
  'sourceUniqueId:sourceUniqueId:str',
  'uploadSizeBytes:uploadSizeBytes:int',
  'logicalSectorSize:logicalSectorSize:int',
  'securityDataUri:securityDataUri:str',
];

/** Models referenced by name from fields (shared by both api-versions unless overridden). */
export const NESTED: Readonly<Record<string, AzModel>> = {
  DiskSku: SKU,
  SnapshotSku: SKU,
  ExtendedLocation: EXTENDED_LOCATION,
  PurchasePlan: PURCHASE_PLAN,
  DiskSupportedCapabilities: ['diskControllerTypes:diskControllerTypes:str', 'acceleratedNetwork:acceleratedNetwork:bool', 'architecture:architecture:str'],
  SnapshotSupportedCapabilities: ['acceleratedNetwork:acceleratedNetwork:bool', 'architecture:architecture:str'],
  ImageDiskReference: IMAGE_DISK_REFERENCE,
  DiskCreationData: [...CREATION_DATA_SNAPSHOT, 'performancePlus:performancePlus:bool'],
  SnapshotCreationData: CREATION_DATA_SNAPSHOT,
  SourceVault: SOURCE_VAULT,
  KeyVaultAndSecretReference: KEY_VAULT_SECRET,
  KeyVaultAndKeyReference: KEY_VAULT_KEY,
  EncryptionSettingsElement: ENCRYPTION_SETTINGS_ELEMENT,
  EncryptionSettingsCollection: ENCRYPTION_SETTINGS_COLLECTION,
  Encryption: ENCRYPTION,
  ShareInfoElement: ['vmUri:vmUri:str'],
  PropertyUpdatesInProgress: ['targetTier:targetTier:str'],
  DiskSecurityProfile: SECURITY_PROFILE,
  CopyCompletionError: ['errorCode:errorCode:str', 'errorMessage:errorMessage:str'],
  ResourceGroupProperties: ['provisioningState:provisioningState:str'],
};

/** `azure.mgmt.compute.v2022_07_02.models.Disk` */
export const DISK: AzModel = [
  'id:id:str',
  'name:name:str',
  'type:type:str',
  'location:location:str',
  'tags:tags:map',
  'managedBy:managedBy:str',
  'managedByExtended:managedByExtended:list',
  'sku:sku:DiskSku',
  'zones:zones:list',
  'extendedLocation:extendedLocation:ExtendedLocation',
  'timeCreated:properties.timeCreated:date',
  'osType:properties.osType:str',
  'hyperVGeneration:properties.hyperVGeneration:str',
  'purchasePlan:properties.purchasePlan:PurchasePlan',
  'supportedCapabilities:properties.supportedCapabilities:DiskSupportedCapabilities',
  'creationData:properties.creationData:DiskCreationData',
  'diskSizeGb:properties.diskSizeGB:int',
  'diskSizeBytes:properties.diskSizeBytes:int',
  'uniqueId:properties.uniqueId:str',
  'encryptionSettingsCollection:properties.encryptionSettingsCollection:EncryptionSettingsCollection',
  'provisioningState:properties.provisioningState:str',
  'diskIopsReadWrite:properties.diskIOPSReadWrite:int',
  'diskMBpsReadWrite:properties.diskMBpsReadWrite:int',
  'diskIopsReadOnly:properties.diskIOPSReadOnly:int',
  'diskMBpsReadOnly:properties.diskMBpsReadOnly:int',
  'diskState:properties.diskState:str',
  'encryption:properties.encryption:Encryption',
  'maxShares:properties.maxShares:int',
  'shareInfo:properties.shareInfo:[ShareInfoElement]',
  'networkAccessPolicy:properties.networkAccessPolicy:str',
  'diskAccessId:properties.diskAccessId:str',
  'burstingEnabledTime:properties.burstingEnabledTime:date',
  'tier:properties.tier:str',
  'burstingEnabled:properties.burstingEnabled:bool',
  'propertyUpdatesInProgress:properties.propertyUpdatesInProgress:PropertyUpdatesInProgress',
  'supportsHibernation:properties.supportsHibernation:bool',
  'securityProfile:properties.securityProfile:DiskSecurityProfile',
  'completionPercent:properties.completionPercent:float',
  'publicNetworkAccess:properties.publicNetworkAccess:str',
  'dataAccessAuthMode:properties.dataAccessAuthMode:str',
  'optimizedForFrequentAttach:properties.optimizedForFrequentAttach:bool',
];

/** `azure.mgmt.compute.v2022_03_02.models.Snapshot` */
export const SNAPSHOT: AzModel = [
  'id:id:str',
  'name:name:str',
  'type:type:str',
  'location:location:str',
  'tags:tags:map',
  'managedBy:managedBy:str',
  'sku:sku:SnapshotSku',
  'extendedLocation:extendedLocation:ExtendedLocation',
  'timeCreated:properties.timeCreated:date',
  'osType:properties.osType:str',
  'hyperVGeneration:properties.hyperVGeneration:str',
  'purchasePlan:properties.purchasePlan:PurchasePlan',
  'supportedCapabilities:properties.supportedCapabilities:SnapshotSupportedCapabilities',
  'creationData:properties.creationData:SnapshotCreationData',
  'diskSizeGb:properties.diskSizeGB:int',
  'diskSizeBytes:properties.diskSizeBytes:int',
  'diskState:properties.diskState:str',
  'uniqueId:properties.uniqueId:str',
  'encryptionSettingsCollection:properties.encryptionSettingsCollection:EncryptionSettingsCollection',
  'provisioningState:properties.provisioningState:str',
  'incremental:properties.incremental:bool',
  'encryption:properties.encryption:Encryption',
  'networkAccessPolicy:properties.networkAccessPolicy:str',
  'diskAccessId:properties.diskAccessId:str',
  'securityProfile:properties.securityProfile:DiskSecurityProfile',
  'supportsHibernation:properties.supportsHibernation:bool',
  'publicNetworkAccess:properties.publicNetworkAccess:str',
  'completionPercent:properties.completionPercent:float',
  'copyCompletionError:properties.copyCompletionError:CopyCompletionError',
  'dataAccessAuthMode:properties.dataAccessAuthMode:str',
];

/** `AccessUri` (the result of grant-access). */
export const ACCESS_URI: AzModel = ['accessSas:accessSAS:str', 'securityDataAccessSas:securityDataAccessSAS:str'];

/** `azure.mgmt.resource.resources.v2021_04_01.models.ResourceGroup` */
export const RESOURCE_GROUP: AzModel = [
  'id:id:str',
  'name:name:str',
  'type:type:str',
  'properties:properties:ResourceGroupProperties',
  'location:location:str',
  'managedBy:managedBy:str',
  'tags:tags:map',
];

/** Fields whose Python type is float (printed `100.0`). */
export const FLOAT_KEYS: ReadonlySet<string> = new Set(['completionPercent']);

/** az's table transformer of `disk show`, `disk list` and `disk create` (vm/_format.py). */
export const DISK_TABLE =
  "{Name:name, ResourceGroup:resourceGroup, Location:location, Zones: (!zones && ' ') || join(` `, zones), Sku:sku.name, OsType:osType, SizeGb:diskSizeGb, ProvisioningState:provisioningState}";
