// PLACEHOLDER job definitions for the privacy-* run kinds until the privacy jobs land.
import { PrivacyAttackConfig, PrivacyCertifyConfig, PrivacyFinetuneConfig, PrivacyVerifyConfig } from '../../shared/privacy.js'
import { defineJob, JobError } from '../job.js'

const notYet = async (): Promise<void> => {
  throw new JobError('This job is not implemented yet.')
}
export const privacyFinetuneJob = defineJob('privacy-finetune', PrivacyFinetuneConfig, notYet)
export const privacyCertifyJob = defineJob('privacy-certify', PrivacyCertifyConfig, notYet)
export const privacyAttackJob = defineJob('privacy-attack', PrivacyAttackConfig, notYet)
export const privacyVerifyJob = defineJob('privacy-verify', PrivacyVerifyConfig, notYet)
