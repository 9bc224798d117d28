// Test-time privacy (docs/privacy.md). PLACEHOLDER until the privacy helpers land: every method
// answers "not implemented" so the contract, the UI and the CLI can be built against it.
import { ApiError, type Output, type ParsedInput } from '../../shared/api.js'
import type { BackendContext } from '../context.js'

const notYet = (method: string): never => {
  throw new ApiError('bad_request', `${method} is not implemented yet.`)
}

export const privacyHandlers = {
  preview: async (_ctx: BackendContext, _input: ParsedInput<'privacy.preview'>): Promise<Output<'privacy.preview'>> => notYet('privacy.preview'),
  finetune: async (_ctx: BackendContext, _input: ParsedInput<'privacy.finetune'>): Promise<Output<'privacy.finetune'>> => notYet('privacy.finetune'),
  certify: async (_ctx: BackendContext, _input: ParsedInput<'privacy.certify'>): Promise<Output<'privacy.certify'>> => notYet('privacy.certify'),
  attack: async (_ctx: BackendContext, _input: ParsedInput<'privacy.attack'>): Promise<Output<'privacy.attack'>> => notYet('privacy.attack'),
  verify: async (_ctx: BackendContext, _input: ParsedInput<'privacy.verify'>): Promise<Output<'privacy.verify'>> => notYet('privacy.verify'),
  get: async (_ctx: BackendContext, _input: ParsedInput<'privacy.get'>): Promise<Output<'privacy.get'>> => notYet('privacy.get'),
  listCertificates: async (_ctx: BackendContext, _input: ParsedInput<'privacy.listCertificates'>): Promise<Output<'privacy.listCertificates'>> =>
    notYet('privacy.listCertificates'),
}
