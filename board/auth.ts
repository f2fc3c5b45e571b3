import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Config } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';

export type Credentials = { user: string; password: string } | { token: string } | null;

/** The board never runs open by accident: credentials, or an explicit BOARD_AUTH=off. */
export function boardCredentials(config: Config): Credentials[] {
  if (config.BOARD_AUTH === 'off') return [null];
  const credentials: Credentials[] = [];
  if (config.BOARD_USER && config.BOARD_PASSWORD) credentials.push({ user: config.BOARD_USER, password: config.BOARD_PASSWORD });
  if (config.BOARD_TOKEN) credentials.push({ token: config.BOARD_TOKEN });
  if (credentials.length === 0) {
    throw new ConfigError('the board needs BOARD_USER and BOARD_PASSWORD, or BOARD_TOKEN (or BOARD_AUTH=off to run it open)', {
      variable: 'BOARD_PASSWORD',
    });
  }
  return credentials;
}

const same = (a: string, b: string) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

/** HTTP basic or bearer authentication, compared in constant time. */
export function requireAuth(credentials: Credentials[]) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (credentials.includes(null)) return next();
    const header = req.headers.authorization ?? '';
    const [scheme, value = ''] = header.split(' ', 2);
    const ok = credentials.some((credential) => {
      if (credential === null) return true;
      if ('token' in credential) return scheme?.toLowerCase() === 'bearer' && same(value, credential.token);
      if (scheme?.toLowerCase() !== 'basic') return false;
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon >= 0 && same(decoded.slice(0, colon), credential.user) && same(decoded.slice(colon + 1), credential.password);
    });
    if (ok) return next();
    res.set('WWW-Authenticate', 'Basic realm="pgfm board", charset="UTF-8"').status(401).json({ error: 'authentication required' });
  };
}
