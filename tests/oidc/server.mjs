// A real OpenID Connect provider (panva's oidc-provider) on loopback, for chatapp's login tests only.
//
//   node server.mjs PORT
//
// Its sign-in page takes any login name and password; the login name picks the identity:
//   alice@example.com          -> sub "alice@example.com", email verified, name "Alice"
//   carol+unverified@corp.test -> the same shape, but email_verified is false
// Clients register themselves (dynamic client registration at /reg), so each app under test brings its
// own redirect URI. Consent is implied for every client (a first-party provider), PKCE is required.
// Prints "ready <issuer>" on stdout once it listens.

import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.PORT || 0);
if (!port) {
  console.error('usage: node server.mjs PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const SCOPES = 'openid email profile';

function identity(login) {
  const email = login.trim().toLowerCase();
  const local = email.split('@')[0].split('+')[0];
  return {
    sub: email,
    email: email.replace('+unverified', ''),
    email_verified: !email.includes('+unverified'),
    name: local.charAt(0).toUpperCase() + local.slice(1),
    picture: '',
  };
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: ['chatapp-test-cookie-key'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
  features: {
    devInteractions: { enabled: true },   // the built-in Sign-in page
    registration: { enabled: true },      // open dynamic registration: for tests only
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    const claims = identity(id);
    return { accountId: id, async claims() { return claims; } };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(SCOPES);
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
