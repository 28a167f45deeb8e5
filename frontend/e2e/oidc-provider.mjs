// An OpenID Connect provider for Steward's tests, on loopback (npm oidc-provider).
//
//   node oidc-provider.mjs <port> <client_id> <client_secret> <redirect_uri>
//
// Any login name is accepted at the provider's own sign-in page; the name is the account's
// email. Names starting with "unverified." get `email_verified: false`. Prints one line,
// `ready <issuer>`, once it listens.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error('usage: node oidc-provider.mjs <port> <client_id> <client_secret> <redirect_uri>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const email = id.replace(/^unverified\./, '');
        return {
          sub: `subject-${id}`,
          email,
          email_verified: !id.startsWith('unverified.'),
          name: email.split('@')[0],
        };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  cookies: { keys: ['steward-e2e-only'] },
  pkce: { required: () => true },
});
// Loopback over plain http: tell the provider not to expect a TLS-terminating proxy.
provider.proxy = false;

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
