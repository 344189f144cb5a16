//! Accounts: bootstrap, sign-up, users and their profiles.

use crate::access::{self, Admin, Member};
use crate::audit::AuditEvent;
use std::sync::Arc;

use crate::error::{CoreError, CoreResult, Entity, Reason};
use crate::limits::Limited;
use crate::model::*;
use crate::ports::NewUser;
use crate::roles::{self, RoleIds};
use crate::service::roles::clean_roles;
use crate::service::{Latchkey, LoginOutcome};
use crate::tokens::new_refresh_token;
use crate::validate;

/// A new account, as any edge asks for it.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    pub profile: Profile,
    pub organization: Option<OrgId>,
    pub roles: Vec<String>,
    pub is_active: bool,
    /// The role the user acts in by default; it is also assigned.
    pub default_role: Option<String>,
    /// An invited user: no password yet (`password` is ignored); the invitation's link
    /// sets one.
    pub invitation: bool,
}

/// How an edge's origin let accounts be created. The rules are the core's; an edge only
/// says which of them its origin had.
#[derive(Debug, Clone, Copy)]
pub struct SignupPolicy<'a> {
    /// The role a new account gets when it asks for none; also its default role.
    pub default_role: &'a str,
    /// Whether anyone (without a registrar role) may create an unprivileged account.
    pub public: bool,
    /// Roles besides `admin` whose holders may create accounts with any role.
    pub registrars: &'a [&'a str],
    /// Accept only roles that exist (org-users); otherwise a named role is created.
    pub existing_roles_only: bool,
    /// Shortest acceptable username, in characters.
    pub min_username_chars: usize,
}

impl SignupPolicy<'_> {
    /// The native API's self-registration.
    pub const NATIVE: SignupPolicy<'static> = SignupPolicy {
        default_role: roles::USER,
        public: true,
        registrars: &[],
        existing_roles_only: false,
        min_username_chars: 1,
    };
}

/// A change to a user. `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub profile: ProfilePatch,
    /// `Some(None)` removes the user from their organization.
    pub organization: Option<Option<OrgId>>,
    pub is_active: Option<bool>,
}

/// The admin that bootstrap created, and the password when it was generated.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub username: String,
    pub generated_password: Option<String>,
}

pub(crate) fn clean_profile(p: Profile) -> CoreResult<Profile> {
    Ok(Profile {
        first_name: validate::profile_field("first_name", p.first_name)?,
        middle_name: validate::profile_field("middle_name", p.middle_name)?,
        last_name: validate::profile_field("last_name", p.last_name)?,
        name_extension: validate::profile_field("name_extension", p.name_extension)?,
        display_name: validate::profile_field("display_name", p.display_name)?,
        contact_number: validate::profile_field("contact_number", p.contact_number)?,
        address: validate::profile_field("address", p.address)?,
    })
}

fn clean_patch(p: ProfilePatch) -> CoreResult<ProfilePatch> {
    pub(crate) fn f(
        field: &'static str,
        v: Option<Option<String>>,
    ) -> CoreResult<Option<Option<String>>> {
        v.map(|inner| validate::profile_field(field, inner))
            .transpose()
    }
    Ok(ProfilePatch {
        first_name: f("first_name", p.first_name)?,
        middle_name: f("middle_name", p.middle_name)?,
        last_name: f("last_name", p.last_name)?,
        name_extension: f("name_extension", p.name_extension)?,
        display_name: f("display_name", p.display_name)?,
        contact_number: f("contact_number", p.contact_number)?,
        address: f("address", p.address)?,
    })
}

/// The names of the fields a patch changes (for the audit log; never their values).
fn patch_summary(p: &UserPatch) -> String {
    let mut f = Vec::new();
    let pairs: [(&str, bool); 11] = [
        ("username", p.username.is_some()),
        ("email", p.email.is_some()),
        ("first_name", p.profile.first_name.is_some()),
        ("middle_name", p.profile.middle_name.is_some()),
        ("last_name", p.profile.last_name.is_some()),
        ("name_extension", p.profile.name_extension.is_some()),
        ("display_name", p.profile.display_name.is_some()),
        ("contact_number", p.profile.contact_number.is_some()),
        ("address", p.profile.address.is_some()),
        ("organization", p.organization.is_some()),
        ("is_active", p.is_active.is_some()),
    ];
    for (name, set) in pairs {
        if set {
            f.push(name);
        }
    }
    let mut s = format!("fields [{}]", f.join(", "));
    if let Some(a) = p.is_active {
        s.push_str(if a { "; enabled" } else { "; disabled" });
    }
    s
}

impl Latchkey {
    /// On a database with no user, creates the admin (CONTRACT.md "Bootstrap").
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        email: &str,
        password: Option<String>,
    ) -> CoreResult<Option<Bootstrapped>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password.filter(|p| !p.is_empty()) {
            Some(p) => (p, false),
            None => (new_refresh_token(), true),
        };
        let account = NewAccount {
            username: username.to_owned(),
            email: email.to_owned(),
            password: password.clone(),
            roles: vec![roles::ADMIN.to_owned()],
            is_active: true,
            default_role: Some(roles::ADMIN.to_owned()),
            ..Default::default()
        };
        match self.create_account(account, None).await {
            Ok(user) => {
                // The operator chose this address: it counts as verified.
                let w = self.store.set_email_verified(user.id, true).await?;
                self.applied(w);
                Ok(Some(Bootstrapped {
                    username: user.username,
                    generated_password: generated.then_some(password),
                }))
            }
            // Another instance won the race.
            Err(CoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Validates and stores a new account. `actor` is recorded as the assignments' creator.
    pub(crate) async fn create_account(
        &self,
        a: NewAccount,
        actor: Option<&Principal>,
    ) -> CoreResult<User> {
        let username = validate::username(&a.username)?;
        let email = validate::email(&a.email)?;
        if !a.invitation {
            self.check_new_password(&a.password)?;
        }
        let profile = clean_profile(a.profile)?;
        let roles = clean_roles(&a.roles)?;
        if let Some(org) = a.organization {
            if self.store.get_org(org).await?.is_none() {
                return Err(CoreError::NotFound(Entity::Organization));
            }
        }
        let default_role = a
            .default_role
            .as_deref()
            .map(validate::role_name)
            .transpose()?;
        let mut roles = roles;
        if let Some(d) = &default_role {
            if !roles.contains(d) {
                roles.push(d.clone());
            }
        }
        let hash = if a.invitation {
            super::mail::INVITED_HASH.to_owned()
        } else {
            self.hasher.hash(&a.password).await?
        };
        let new = NewUser {
            uuid: uuid::Uuid::new_v4().to_string(),
            username,
            email,
            password_hash: hash,
            profile,
            organization: a.organization,
            is_active: a.is_active,
            default_role,
        };
        let actor_id = actor.map(|p| p.user_id.0.to_string());
        let id = self
            .store
            .insert_user(&new, &roles, actor_id.as_deref())
            .await?;
        let user = self.user_or_gone(id).await?;
        let event = AuditEvent::new("user.created")
            .on("user", id)
            .detail(format!("roles [{}]", user.roles.join(", ")));
        self.audit(match actor {
            Some(p) => event.by(p),
            None => event.by_user(id, &user.username),
        })
        .await;
        Ok(user)
    }

    pub(crate) async fn user_or_gone(&self, id: UserId) -> CoreResult<User> {
        self.store
            .get_user(id)
            .await?
            .ok_or(CoreError::NotFound(Entity::User))
    }

    /// Native self-registration: the new user holds the `user` role.
    pub async fn register(&self, a: NewAccount, client: &ClientInfo) -> CoreResult<User> {
        self.sign_up(None, &SignupPolicy::NATIVE, a, client).await
    }

    /// Creates an account under an edge's sign-up policy. Without a registrar's rights
    /// (admin, or a role in `policy.registrars`), only the default role may be had, and only
    /// where the policy is public and registration is on.
    pub async fn sign_up(
        &self,
        actor: Option<&Principal>,
        policy: &SignupPolicy<'_>,
        mut a: NewAccount,
        client: &ClientInfo,
    ) -> CoreResult<User> {
        let registrar = access::is_registrar(actor, policy.registrars);
        let mut roles = match clean_roles(&a.roles) {
            Ok(r) => r,
            // Where only existing roles are accepted, a malformed name is just not one of them.
            Err(CoreError::Invalid { field: "role", .. }) if policy.existing_roles_only => {
                let valid = self
                    .store
                    .list_roles()
                    .await?
                    .into_iter()
                    .map(|r| r.name)
                    .collect();
                return Err(CoreError::UnknownRole { valid });
            }
            Err(e) => return Err(e),
        };
        if roles.is_empty() {
            roles.push(policy.default_role.to_owned());
        }
        if registrar && !actor.is_some_and(Principal::is_admin) {
            // A registrar that is not an admin (org-users' `pi`) cannot mint administrators.
            if roles.iter().any(|r| access::is_administrator_role(r)) {
                return Err(CoreError::Forbidden(
                    "only an admin may grant an administrator role",
                ));
            }
        }
        if !registrar {
            if !policy.public {
                return Err(CoreError::Forbidden("not allowed to register users"));
            }
            if roles.iter().any(|r| r != policy.default_role) {
                return Err(CoreError::Forbidden(
                    "choosing a privileged role needs an admin",
                ));
            }
            if !self.cfg.allow_registration {
                return Err(CoreError::Forbidden("self-registration is disabled"));
            }
            self.rate_limit(Limited::Register, client)?;
        }
        if a.username.trim().chars().count() < policy.min_username_chars {
            return Err(CoreError::invalid(
                "username",
                Reason::TooShort {
                    min: policy.min_username_chars,
                },
            ));
        }
        if policy.existing_roles_only {
            let known: Vec<String> = self
                .store
                .list_roles()
                .await?
                .into_iter()
                .map(|r| r.name)
                .collect();
            if roles.iter().any(|r| !known.contains(r)) {
                return Err(CoreError::UnknownRole { valid: known });
            }
        }
        a.default_role = Some(policy.default_role.to_owned()).filter(|d| roles.contains(d));
        a.roles = roles;
        a.is_active = true;
        a.invitation = false;
        let user = self.create_account(a, actor).await?;
        self.after_sign_up(&user).await;
        Ok(user)
    }

    /// [`Self::sign_up`], then a session for the new user (for edges whose sign-up answers
    /// with a token).
    pub async fn sign_up_and_login(
        &self,
        actor: Option<&Principal>,
        policy: &SignupPolicy<'_>,
        a: NewAccount,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        let user = self.sign_up(actor, policy, a, client).await?;
        // Where verification is required, a new account's session waits for its address.
        if self.email_verification() == crate::mail::Verification::Required {
            return Err(CoreError::EmailNotVerified);
        }
        let tokens = self
            .open_session(user.id, client, None, crate::mfa::AMR_PASSWORD)
            .await?;
        Ok(LoginOutcome {
            tokens,
            enrollment_required: self.must_enroll(&user),
            user,
            recovery_codes_remaining: None,
        })
    }

    pub async fn get_user(&self, actor: &Principal, id: UserId) -> CoreResult<User> {
        access::self_or_admin(actor, id)?;
        self.user_or_gone(id).await
    }

    /// The caller's own record, from the cache that authenticated them (no database round
    /// trip while nothing about them has changed).
    pub async fn me(&self, actor: &Principal) -> CoreResult<User> {
        match self.cached_user(actor.user_id).await? {
            Some(u) => Ok(User::clone(&u)),
            None => Err(CoreError::NotFound(Entity::User)),
        }
    }

    /// A user from the cache, loading (and caching) them on a miss. A load that raced with a
    /// change to the user is returned but not cached.
    pub(crate) async fn cached_user(&self, id: UserId) -> CoreResult<Option<Arc<User>>> {
        if let Some(u) = self.cache.user(id) {
            return Ok(Some(u));
        }
        let generation = self.cache.generation();
        Ok(self
            .store
            .get_user(id)
            .await?
            .map(|u| self.cache.put_user(id, u, generation)))
    }

    /// Updates a user. Users may change their own username, email and profile; only an
    /// admin may change activity or organization, or anyone else's account.
    pub async fn update_user(
        &self,
        actor: &Principal,
        id: UserId,
        patch: UserPatch,
    ) -> CoreResult<User> {
        access::self_or_admin(actor, id)?;
        if (patch.is_active.is_some() || patch.organization.is_some()) && !actor.is_admin() {
            return Err(CoreError::Forbidden("only an admin may change this"));
        }
        if patch.is_active == Some(false) && actor.user_id == id {
            return Err(CoreError::invalid("is_active", Reason::SelfDisable));
        }
        let changed = patch_summary(&patch);
        let user = self.apply_update(id, patch).await?;
        self.audit(
            AuditEvent::new("user.updated")
                .by(actor)
                .on("user", id)
                .detail(changed),
        )
        .await;
        Ok(user)
    }

    /// Applies a validated change; the caller has decided that it is allowed.
    pub(crate) async fn apply_update(&self, id: UserId, patch: UserPatch) -> CoreResult<User> {
        let mut user = self.user_or_gone(id).await?;
        if let Some(u) = &patch.username {
            user.username = validate::username(u)?;
        }
        if let Some(e) = &patch.email {
            user.email = validate::email(e)?;
        }
        clean_patch(patch.profile)?.apply(&mut user.profile);
        if let Some(org) = patch.organization {
            user.organization = match org {
                Some(oid) => {
                    let o = self
                        .store
                        .get_org(oid)
                        .await?
                        .ok_or(CoreError::NotFound(Entity::Organization))?;
                    Some(OrgRef {
                        id: o.id,
                        uuid: o.uuid,
                        name: o.name,
                    })
                }
                None => None,
            };
        }
        let disabling = patch.is_active == Some(false) && user.is_active;
        if let Some(a) = patch.is_active {
            user.is_active = a;
        }
        let w = self.store.update_user(&user).await?;
        self.applied(w);
        if disabling {
            self.end_sessions_of(id, None, "account disabled").await?;
        }
        self.user_or_gone(id).await
    }

    pub(crate) async fn end_sessions_of(
        &self,
        id: UserId,
        keep: Option<&SessionId>,
        reason: &str,
    ) -> CoreResult<u64> {
        let w = self.store.end_user_sessions(id, keep, reason).await?;
        Ok(self.applied(w).len() as u64)
    }

    pub(crate) async fn list_users_unchecked(
        &self,
        q: &UserQuery,
        page: &PageRequest,
    ) -> CoreResult<UserPage> {
        let mut q = q.clone();
        if let Some(role) = &q.role {
            q.role = Some(validate::role_name(role)?);
        }
        if let Some(s) = &q.search {
            if s.chars().count() > 256 {
                return Err(CoreError::invalid("q", Reason::TooLong { max: 256 }));
            }
            validate::no_nul("q", s)?;
        }
        if let PageRequest::After {
            cursor:
                Some(UserCursor {
                    key: CursorKey::Text(t),
                    ..
                }),
            ..
        } = page
        {
            validate::no_nul("cursor", t)?;
        }
        self.store.list_users(&q, page).await
    }

    /// A user updates their own profile and, optionally, sets a new password without the
    /// current one (citizen-portal's `update-profile` allows that); their other sessions end.
    pub async fn update_own_profile(
        &self,
        actor: &Principal,
        patch: UserPatch,
        new_password: Option<&str>,
        client: &ClientInfo,
    ) -> CoreResult<User> {
        if let Some(pw) = new_password {
            self.rate_limit(Limited::Password, client)?;
            self.check_new_password(pw)?;
        }
        let user = self.update_user(actor, actor.user_id, patch).await?;
        if let Some(pw) = new_password {
            self.set_password_unchecked(actor, actor.user_id, pw, Some(&actor.session_id))
                .await?;
        }
        Ok(user)
    }
}

impl Admin<'_> {
    /// Any user.
    pub async fn get_user(&self, id: UserId) -> CoreResult<User> {
        self.svc.user_or_gone(id).await
    }

    /// An admin creates a user with any roles.
    pub async fn create_user(&self, a: NewAccount) -> CoreResult<User> {
        self.svc.create_account(a, Some(self.actor)).await
    }

    /// An admin ends all of a user's sessions.
    pub async fn end_user_sessions(&self, id: UserId) -> CoreResult<u64> {
        self.svc.user_or_gone(id).await?;
        let n = self.svc.end_sessions_of(id, None, "ended by admin").await?;
        self.svc
            .audit(
                AuditEvent::new("sessions.ended")
                    .by(self.actor)
                    .on("user", id)
                    .detail(format!("{n} sessions")),
            )
            .await;
        Ok(n)
    }

    pub async fn delete_user(&self, id: UserId) -> CoreResult<()> {
        if self.actor.user_id == id {
            return Err(CoreError::SelfDelete);
        }
        let w = self.svc.store.delete_user(id).await?;
        self.svc.applied(w);
        self.record(AuditEvent::new("user.deleted").on("user", id))
            .await;
        Ok(())
    }

    /// Deletes every user except the caller (org-users `DELETE /users/`).
    pub async fn delete_all_users(&self) -> CoreResult<u64> {
        let w = self
            .svc
            .store
            .delete_users_except(self.actor.user_id)
            .await?;
        let n = self.svc.applied(w);
        self.record(AuditEvent::new("users.deleted_all").detail(format!("{n} users")))
            .await;
        Ok(n)
    }

    /// Lists users.
    pub async fn list_users(&self, q: &UserQuery, page: &PageRequest) -> CoreResult<UserPage> {
        self.svc.list_users_unchecked(q, page).await
    }

    /// Updates any user, including password, roles (by id in the edge's namespace `ns`) and
    /// the default role. Unknown role ids are invalid input. One user change at a time: the
    /// fields, then the password (ending that user's sessions), then the roles.
    pub async fn update_user_fully(
        &self,
        ns: &RoleIds,
        id: UserId,
        patch: UserPatch,
        new_password: Option<&str>,
        role_ids: Option<&[RoleId]>,
        default_role_id: Option<RoleId>,
    ) -> CoreResult<User> {
        self.svc.user_or_gone(id).await?;
        if let Some(pw) = new_password {
            self.svc.check_new_password(pw)?;
        }
        let mut wanted = match role_ids {
            Some(ids) => Some(self.roles_for_ids(ns, ids).await?),
            None => None,
        };
        let default = match default_role_id {
            Some(rid) => {
                let all = self.svc.store.list_roles().await?;
                let role = ns.role_named_by(rid, &all).cloned();
                Some(role.ok_or_else(|| {
                    CoreError::invalid("defaultRoleId", Reason::UnknownRoleId(rid.0))
                })?)
            }
            None => None,
        };
        if patch.is_active == Some(false) && self.actor.user_id == id {
            return Err(CoreError::invalid("is_active", Reason::SelfDisable));
        }
        self.svc.apply_update(id, patch).await?;
        if let Some(pw) = new_password {
            let keep = (self.actor.user_id == id).then_some(&self.actor.session_id);
            self.svc
                .set_password_unchecked(self.actor, id, pw, keep)
                .await?;
        }
        if let Some(d) = &default {
            // The default role is always one the user holds.
            match &mut wanted {
                Some(list) if !list.contains(&d.name) => list.push(d.name.clone()),
                Some(_) => {}
                None => {
                    let current = self.svc.user_or_gone(id).await?;
                    if !current.has_role(&d.name) {
                        let mut list = current.roles.clone();
                        list.push(d.name.clone());
                        wanted = Some(list);
                    }
                }
            }
        }
        if let Some(list) = wanted {
            self.replace_roles(id, &list).await?;
        }
        if let Some(d) = default {
            let w = self.svc.store.set_default_role(id, Some(d.id)).await?;
            self.svc.applied(w);
        }
        self.svc.user_or_gone(id).await
    }
}

impl Member<'_> {
    /// Any authenticated user may look users up (org-users' "Roles Required: None").
    pub async fn find_user(&self, login_or_uuid: &str) -> CoreResult<User> {
        if login_or_uuid.contains('\0') {
            // No stored name holds a NUL.
            return Err(CoreError::NotFound(Entity::User));
        }
        let key = validate::fold(login_or_uuid.trim());
        if let Some(u) = self.svc.store.get_user_by_login(&key).await? {
            return Ok(u);
        }
        if uuid::Uuid::parse_str(login_or_uuid).is_ok() {
            if let Some(u) = self.svc.store.get_user_by_uuid(&key).await? {
                return Ok(u);
            }
        }
        Err(CoreError::NotFound(Entity::User))
    }

    /// Lists users for an edge whose origin let any authenticated user list them
    /// (user-profiles, org-users). The caller must hold a principal.
    pub async fn list_users_as_member(
        &self,
        q: &UserQuery,
        page: &PageRequest,
    ) -> CoreResult<UserPage> {
        self.svc.list_users_unchecked(q, page).await
    }
}
